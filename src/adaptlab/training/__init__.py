"""Fine-tuning (LoRA or full, through the Hugging Face Trainer) and the data it trains on."""
