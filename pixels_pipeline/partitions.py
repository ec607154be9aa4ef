"""Partitions: one dynamic partition per drop in the landing zone."""

from dagster import DynamicPartitionsDefinition

drops_partitions = DynamicPartitionsDefinition(name="drops")
