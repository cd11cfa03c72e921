"""Beanie documents on the real FerretDB server, over the MongoDB wire protocol."""

import uuid
from datetime import UTC, datetime

import pytest
from pymongo.errors import DuplicateKeyError

from sinks.mongo.client import create_missing_indexes, init_documents, mongo_client
from sinks.mongo.documents import Favourite


@pytest.fixture
async def beanie_db(stack, settings):
    """Beanie bound to a throwaway database, with the service's indexes."""
    test_settings = settings.model_copy(update={"mongo_db": f"test_{uuid.uuid4().hex[:8]}"})
    client = mongo_client(test_settings)
    await create_missing_indexes(client, test_settings)
    await init_documents(client, test_settings)
    yield client
    await client.drop_database(test_settings.mongo_db)
    await client.close()


async def test_insert_and_query_through_beanie(beanie_db):
    user = uuid.uuid4()
    films = [uuid.uuid4() for _ in range(3)]
    for i, film in enumerate(films):
        changed = datetime(2026, 1, 1 + i, tzinfo=UTC)
        await Favourite(user_id=user, movie_id=film, active=True, changed_at=changed).insert()
    await Favourite(
        user_id=uuid.uuid4(), movie_id=films[0], active=True, changed_at=changed
    ).insert()

    found = (
        await Favourite.find(Favourite.user_id == str(user)).sort(-Favourite.changed_at).to_list()
    )

    assert [f.movie_id for f in found] == [str(film) for film in reversed(films)]
    assert all(f.user_id == str(user) for f in found)


async def test_unique_index_refuses_a_second_user_film_pair(beanie_db):
    user, film = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    await Favourite(user_id=user, movie_id=film, active=True, changed_at=now).insert()
    with pytest.raises(DuplicateKeyError):
        await Favourite(user_id=user, movie_id=film, active=False, changed_at=now).insert()
