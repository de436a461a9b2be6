"""Training: pair sampling -> HF datasets; rewards; SFT and GRPO on TRL; configs."""
