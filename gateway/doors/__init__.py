"""Door control: the state machine that moves locks (`controller`), its seams (timers,
outputs), and the commands other parts may give it (`commands`).

Deliberately empty: importing one module of the package (`gateway.doors.errors`, say)
must not load the controller with it (scripts/check_layers.py).
"""
