"""The trade's shared words: channels, categories, priorities and directions of contacts.

Every domain (and billing's rate card) speaks them, so they live here, above all of them.
"""

CHANNELS = ("voice", "email", "chat", "web", "social")
CATEGORIES = (
    "complaint",  # queja: dissatisfaction with a product or the service
    "claim",  # reclamación: a written complaint that asks for compensation
    "information_request",
    "suggestion",
    "compliment",
    "order_request",
    "incident",
)
PRIORITIES = ("low", "normal", "high", "urgent")
DIRECTIONS = ("inbound", "outbound")
