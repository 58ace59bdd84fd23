"""The guarded LLM ensemble and PPO worker on Ray Serve (built in later issues)."""
