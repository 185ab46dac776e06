"""The staff console: the staff home and each survey's area (overview, responses, open-text
answers, outreach, organisations), composing the rooms below it. Top of the import layers."""
