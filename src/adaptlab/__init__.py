"""adaptlab: put the knowledge in the prompt, train it into the weights, or both? Measure accuracy and cost."""

__version__ = "0.1.0"
