"""Queries built once by the query builder and run again with other values.

peewee compiles a query to SQL text on every run; for a row of two dozen columns read by
its key that is most of the read. A Prepared query is built once per database class
with marker values, compiled once, and each run binds the run's values in the markers'
places (Model.raw). The SQL is still the query builder's, for whichever database."""

import threading


class Prepared:
    """`build(*markers)` returns the query; `run(database, *values)` its rows, as models."""

    def __init__(self, model, build, markers):
        self.model, self.build, self.markers = model, build, tuple(markers)
        self._compiled = {}  # database class -> (sql, params, marker positions)
        self._lock = threading.Lock()

    def _compile(self, database):
        kind = type(database)
        with self._lock:
            if kind not in self._compiled:
                sql, params = self.build(*self.markers).sql()
                positions = [params.index(marker) for marker in self.markers]
                if len(set(positions)) != len(self.markers) or any(
                        params.count(marker) != 1 for marker in self.markers):
                    raise ValueError(f"markers not bound once each in {sql}")
                self._compiled[kind] = (sql, params, positions)
            return self._compiled[kind]

    def run(self, database, *values):
        sql, params, positions = self._compile(database)
        params = list(params)
        for position, value in zip(positions, values):
            params[position] = value
        return self.model.raw(sql, *params)
