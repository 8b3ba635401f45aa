"""letter-campaign: turns a human-rights report into a letter-writing campaign."""
