"""Facts of cfsim's demo seed (cfsim/seeds/demo.json) that the tests and benchmarks rely on."""

WEST = "run.aws-usw02-pr.ice.predix.io"
CF3 = "run.aws-usw02.dev.ice.predix.io"
EAST = "run.asv-pr.ice.predix.io"
SPACE = "5ace0000-0000-4000-8000-000000000001"
WEST_DOMAIN = "d0e10000-0000-4000-8000-000000000001"  # the Predix West domain's GUID

ACME_PROD_ZONE = "ec000001-0000-4000-8000-000000000001"  # 2 instances, bound to acme-uaa and a UPS
ACME_PROD_APP = "a0000000-0000-4000-8000-000000000001"
ACME_PROD_ROUTE = "70000001-0000-4000-8000-000000000001"
GLOBEX_PROD_ZONE = "ec000003-0000-4000-8000-000000000003"
GLOBEX_PROD_APP = "a0000000-0000-4000-8000-000000000003"
ACME_UAA_INSTANCE = "b0000001-0000-4000-8000-000000000001"  # managed: binding → 202 + job
LOG_DRAIN_INSTANCE = "b0000002-0000-4000-8000-000000000002"  # user-provided: binding → 201

SENDAI = "ecsim/ec-service:sendai.120"
OKINAWA = "ecsim/ec-service:okinawa.130"
BROKEN = "ecsim/ec-service:broken.999"  # the demo seed marks it as failing to stage

ACME_PROD_NAME = "ec-service-acme-prod"  # the app serving the route
ACME_PROD_SERVICE = "ec-acme-prod"  # the service instance's name: what people call the EC service
ACME_NONPROD_SERVICE = "ec-acme-nonprod"
ACME_PROD_URL = f"https://{ACME_PROD_ZONE}.{WEST}"
ACME_NONPROD_URL = f"https://ec000002-0000-4000-8000-000000000002.{WEST}"
INITECH_PROD_URL = f"https://ec000c31-0000-4000-8000-000000000001.{CF3}"
