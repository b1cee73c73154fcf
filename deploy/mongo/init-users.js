// Run once by the mongo image on an empty data directory
// (/docker-entrypoint-initdb.d, as the root user of MONGO_INITDB_ROOT_*):
// one least-privilege user per service, readWrite on its own database only.
// Their passwords come from the container's environment (docker-compose.yml
// takes them from ${APPOINTMENT_MONGODB_PASSWORD:?} and
// ${FINANCIAL_MONGODB_PASSWORD:?}); the users live in "admin"
// (authSource=admin in the services' MONGODB_URI).
const users = [
  { user: "appointment", db: "appointment", env: "APPOINTMENT_MONGODB_PASSWORD" },
  { user: "financial", db: "financial", env: "FINANCIAL_MONGODB_PASSWORD" },
];
const admin = db.getSiblingDB("admin");
for (const u of users) {
  const pwd = process.env[u.env];
  if (!pwd) {
    throw new Error(`${u.env} is not set: cannot create the MongoDB user ${u.user}`);
  }
  admin.createUser({ user: u.user, pwd: pwd, roles: [{ role: "readWrite", db: u.db }] });
  print(`created MongoDB user ${u.user} (readWrite on ${u.db})`);
}
