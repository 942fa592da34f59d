"""The Compax server: an aiohttp JSON API over SQLModel, the one authority on what is booked."""
