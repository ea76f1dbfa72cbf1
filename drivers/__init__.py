"""Hardware drivers, one module per part; each is built on the real library and faked only at pin/bus level."""
