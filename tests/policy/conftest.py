import pytest

SAFESEARCH_YAML = """\
engines:
  google:
    target: forcesafesearch.google.com
    hosts: [www.google.com, www.google.fr, google.com]
  bing: {target: strict.bing.com, hosts: [www.bing.com]}
  duckduckgo: {target: safe.duckduckgo.com, hosts: [duckduckgo.com, www.duckduckgo.com]}
youtube:
  moderate: restrictmoderate.youtube.com
  strict: restrict.youtube.com
  hosts: [www.youtube.com, m.youtube.com, youtubei.googleapis.com, youtube.googleapis.com, www.youtube-nocookie.com]
"""


@pytest.fixture
def safesearch_file(tmp_path):
    path = tmp_path / "safesearch.yaml"
    path.write_text(SAFESEARCH_YAML)
    return path
