"""The raw-events application: `faust -A streams.raw_app worker -l info`.

With the embedded chDB it owns the chDB folder, so one such worker runs per folder.
"""

from streams.base import RAW_EVENTS_GROUP, create_app, dead_letter_topic, raw_topic
from ugc.events import Family, topic_name
from ugc.settings import get_settings

settings = get_settings()

app = create_app(
    settings, RAW_EVENTS_GROUP, "streams.raw_app", ["streams.raw"], settings.raw_events_web_port
)

all_event_topics = raw_topic(app, *(topic_name(settings, family) for family in Family))
dead_letters = dead_letter_topic(app, settings)
