"""HTTP routes: each module translates requests into calls and results into JSON, nothing more."""
