"""Cloud code for `benchmarks.rest --cloud`: a trivial before_save on one class (BenchTriggered) and nothing on
the others, to show that a class without triggers pays nothing for another class's."""
from livequery.cloud import Cloud

cloud = Cloud()


@cloud.before_save("BenchTriggered")
def stamp(request):
    request.object["stamped"] = True
