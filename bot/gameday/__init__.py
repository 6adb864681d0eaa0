"""Game Day drills: the scenario catalog, the drill lifecycle, timings, reports and the
scheduler of drill prompts."""
