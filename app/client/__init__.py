"""Client commands (record, report, models...): HTTP to a server, and no server code imported."""
