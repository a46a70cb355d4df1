"""Private helpers shared across layers: text for messages, thread limits, atomic writes, JSON reading."""
