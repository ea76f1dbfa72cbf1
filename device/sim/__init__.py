"""The device on simulated parts: the simulator, its terminal view, the trace."""
