"""anncc.backends: what anncc emits from the IR (report; SPICE netlists). Backends only read the IR."""
