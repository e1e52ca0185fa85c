"""The cloud code the dashboard test serves: a function and a job, for the dashboard's jobs page and console."""
from livequery.cloud import Cloud

cloud = Cloud()


@cloud.define("hello")
def hello(request):  # type: ignore[no-untyped-def]
    return f"hello {request.params.get('name', 'world')}"


@cloud.job("nightlyCleanup")
def nightly_cleanup(request):  # type: ignore[no-untyped-def]
    return "cleaned"
