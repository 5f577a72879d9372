"""HTTP resources: one blueprint per resource."""
