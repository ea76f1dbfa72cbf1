"""What the panel shows: views (data), screens (pure render), fonts, the display worker."""
