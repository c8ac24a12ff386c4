"""Processing configurations, levels of description and filesystem metadata."""

from __future__ import annotations

from fastapi.testclient import TestClient

CONFIG = (
    b"<processingMCP><preconfiguredChoices><preconfiguredChoice>"
    b"<appliesTo>01c651cb-c174-4ba4-b985-1d87a44d6754</appliesTo>"
    b"<goToChain>414da421-b83f-4648-895f-a34840e3c3f5</goToChain>"
    b"</preconfiguredChoice></preconfiguredChoices></processingMCP>"
)


def test_processing_configuration_crud(client: TestClient, admin_auth: dict[str, str]) -> None:
    auth = admin_auth  # changing processing configurations is the admin role's
    url = "/api/processing-configuration/mine1"
    missing = client.get(url, headers={**auth, "Accept": "*/*"})
    assert missing.status_code == 404
    assert missing.json() == {"success": False, "error": 'No such processing config "mine1".'}
    res = client.put(url, content=CONFIG, headers={**auth, "Content-Type": "text/xml"})
    assert res.status_code == 200 and res.json() == {"success": True}
    assert (
        "mine1"
        in client.get("/api/processing-configuration/", headers=auth).json()[
            "processing_configurations"
        ]
    )
    res = client.get(url, headers={**auth, "Accept": "*/*"})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/xml")
    assert b"01c651cb-c174-4ba4-b985-1d87a44d6754" in res.content
    assert client.get(url, headers={**auth, "Accept": "application/xml"}).status_code == 200
    assert client.get(url, headers={**auth, "Accept": "application/json"}).status_code == 415
    assert client.get(url, headers={**auth, "Accept": ""}).status_code == 415
    for bad in (b"", b"<notxml", b"<other/>"):
        res = client.put(url, content=bad, headers=auth)
        assert res.status_code == 400 and res.json()["error"] is True, bad
    assert client.delete(url, headers=auth).json() == {"success": True}
    assert client.delete(url, headers=auth).status_code == 404
    assert (
        client.get("/api/processing-configuration/way_too_long_name_x", headers=auth).status_code
        == 400
    )


def test_levels_of_description_and_path_metadata(client: TestClient, auth: dict[str, str]) -> None:
    levels = client.get("/api/filesystem/administration/dips/atom/levels/", headers=auth).json()
    names = [next(iter(d.values())) for d in levels]
    assert names[:3] == ["Fonds", "Subfonds", "Collection"]
    assert client.get("/api/administration/dips/atom/fetch_levels/", headers=auth).json() == levels
    series = next(k for d in levels for k, v in d.items() if v == "Series")
    url = "/api/filesystem/metadata/"
    assert client.get(url, headers=auth, params={"path": "/arrange/a/"}).status_code == 404
    res = client.post(
        url, headers=auth, data={"path": "/arrange/a/", "level_of_description": series}
    )
    assert res.status_code == 201 and res.json() == {"success": True}
    res = client.get(url, headers=auth, params={"path": "/arrange/a/"})
    assert res.json() == {"level_of_description": "Series"}
    res = client.post(
        url, headers=auth, data={"path": "/arrange/a/", "level_of_description": "nope"}
    )
    assert res.status_code == 400
