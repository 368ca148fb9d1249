"""anncc.backends.spice: ngspice netlists of crossbar arrays, a batch harness and an output parser."""
