"""Pure canary logic: the state machine and the gate's decision. No I/O here."""
