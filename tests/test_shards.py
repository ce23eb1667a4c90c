from facade_wwr.shards import assign, shard_count


def test_shard_count_is_a_power_of_two_covering_the_photos() -> None:
    assert shard_count(0, 50) == 1
    assert shard_count(50, 50) == 1
    assert shard_count(51, 50) == 2
    assert shard_count(10_000, 50) == 256
    assert shard_count(12_800, 50) == 256


def test_assignment_is_stable_and_adding_a_photo_changes_one_shard() -> None:
    names = [f"photo_{i:05d}.jpg" for i in range(1000)]
    before = assign(names, 50)
    assert sum(len(v) for v in before.values()) == 1000
    assert assign(list(reversed(names)), 50) == before
    after = assign([*names, "new.jpg"], 50)
    changed = [k for k in after if after[k] != before.get(k)]
    assert len(changed) == 1 and "new.jpg" in after[changed[0]]
    assert max(len(v) for v in before.values()) < 2 * 50
