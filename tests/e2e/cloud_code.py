"""The cloud code every e2e server runs (`--cloud`, see conftest.py): cloud.test.mjs drives it through the Parse
JS SDK. Its triggers are on E2E* classes only, which the other test files never use."""
from livequery.cloud import Cloud, CloudError

cloud = Cloud()


@cloud.define("hello")
def hello(request):
    return {"greeting": f"hello {request.params.get('name', 'world')}",
            "user": request.user["username"] if request.user else None, "master": request.master}


@cloud.define("nextDay")
def next_day(request):
    from datetime import timedelta

    return request.params["when"] + timedelta(days=1)


@cloud.define("averageStars", require_user=True)
async def average_stars(request):
    reviews = await request.api.find("E2EReview", where={"movie": request.params["movie"]}, master=True)
    return sum(r["stars"] for r in reviews) / max(len(reviews), 1)


@cloud.define("refuse")
def refuse(request):
    raise CloudError("not today")


@cloud.before_save("E2EReview", fields={"stars": {"required": True, "type": "Number", "options": [1, 2, 3, 4, 5]}})
def check_review(request):
    if len(request.object.get("comment", "")) > 140:
        raise CloudError("comment too long")
    request.object["checked"] = True
    if isinstance(request.object.get("title"), str):
        request.object["title"] = request.object["title"].strip()
    request.object.pop("scratch", None)
    request.context["checkedBy"] = "before_save"


@cloud.after_save("E2EReview")
async def count_review(request):
    movie = request.object.get("movie")
    if movie:
        await request.api.update("E2EMovie", movie["objectId"], {"reviews": {"__op": "Increment", "amount": 1}},
                                 master=True)
    if request.context.get("log"):
        await request.api.create("E2ELog", {"context": request.context}, master=True)


@cloud.before_find("E2EPost")
def visible_posts(request):
    if not request.master:
        request.query.equal_to("visible", True)


@cloud.job("e2eJob")
async def e2e_job(request):
    request.message("working")
    return f"processed {request.params.get('n', 0)}"
