"""Pure rules about input and decisions: no I/O, safe to call from workflows and front ends."""
