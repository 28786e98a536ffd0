"""The Kivy edge app (digits-app)."""
