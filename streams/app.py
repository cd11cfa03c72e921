"""The projections application: `faust -A streams.app worker -l info` (several may run)."""

from streams.base import PROJECTIONS_GROUP, create_app, dead_letter_topic, raw_topic
from ugc.events import RATINGS_BY_FILM, Family, topic_name
from ugc.settings import get_settings

settings = get_settings()

app = create_app(
    settings,
    PROJECTIONS_GROUP,
    "streams.app",
    ["streams.agents", "streams.web"],
    settings.worker_web_port,
)

favourites_topic = raw_topic(app, topic_name(settings, Family.FAVOURITES))
ratings_topic = raw_topic(app, topic_name(settings, Family.RATINGS))
ratings_by_film_topic = raw_topic(app, topic_name(settings, RATINGS_BY_FILM))
progress_topics = raw_topic(
    app, *(topic_name(settings, f) for f in (Family.PLAYBACK, Family.VIEWING))
)
dead_letters = dead_letter_topic(app, settings)
