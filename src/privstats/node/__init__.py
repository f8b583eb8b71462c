"""The node agent that runs next to a data owner's data."""
