"""Create the service's Kafka topics that are missing; leave existing ones untouched."""

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.init.report import InitResult, Outcome
from ugc.events import topic_specs
from ugc.settings import Settings


async def init_topics(settings: Settings) -> list[InitResult]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10000
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        specs = topic_specs(settings)
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=spec.replication_factor,
                        topic_configs=spec.config,
                    )
                    for spec in missing
                ]
            )
    finally:
        await admin.close()
    return [
        InitResult(
            "kafka",
            "topic",
            spec.name,
            Outcome.CREATED if spec in missing else Outcome.EXISTED,
            f"{spec.partitions} partitions, rf {spec.replication_factor}, "
            f"min.insync {spec.config['min.insync.replicas']}",
        )
        for spec in specs
    ]
