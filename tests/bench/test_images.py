"""The bench's image sizes: the newest image of each name, whatever registry prefix it has."""

from bench import images


def test_the_newest_image_of_each_name_is_reported_in_mb():
    listed = [
        {"Names": ["localhost/mlstack-serving:old"], "Size": 900_000_000, "Created": 1},
        {"Names": ["localhost/mlstack-serving:e2e"], "Size": 330_000_000, "Created": 2},
        {"RepoTags": ["ghcr.io/o/mlstack-demo:0.1.0"], "Size": 500_000_000, "Created": 1},
        {"Names": ["localhost/other:1"], "Size": 1, "Created": 3},
    ]
    found = images._newest(listed)
    assert found == {
        "mlstack-serving": {"tag": "localhost/mlstack-serving:e2e", "mb": 330},
        "mlstack-demo": {"tag": "ghcr.io/o/mlstack-demo:0.1.0", "mb": 500},
    }
    assert "mlstack-serving" in images.images_table({"where": "podman", "images": found})
