"""Charts drawn on the server as inline SVG: the geometry here, the markup in templates."""

WIDTH, HEIGHT, TOP = 720, 160, 10


def hourly(series, colors):
    """Grouped bars, one group per hour: {name: [24 counts]} -> bars with coordinates,
    the scale's top value and the axis ticks."""
    peak = max([1] + [value for values in series.values() for value in values])
    slots = len(next(iter(series.values())))
    group = WIDTH / slots
    width = group / (len(series) + 1)
    bars = []
    for offset, (name, values) in enumerate(series.items()):
        for index, value in enumerate(values):
            height = (HEIGHT - TOP) * value / peak
            bars.append({"x": round(index * group + (offset + 0.5) * width, 1),
                         "y": round(HEIGHT - height, 1), "width": round(width, 1),
                         "height": round(height, 1), "color": colors[name], "name": name,
                         "value": value, "slot": index})
    return {"bars": bars, "peak": peak, "width": WIDTH, "height": HEIGHT, "group": group}
