"""r1track: visual object tracking with a multimodal LLM."""
