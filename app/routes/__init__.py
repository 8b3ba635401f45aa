"""HTTP routes: supporter pages, the JSON API, and the staff dashboard."""
