// The first start of a Verdaccio instance: the storage directory and the
// htpasswd file with the admin, the generated password hashed with bcrypt
// (by the bcryptjs that Verdaccio's htpasswd plugin checks it with). Made
// once; the password itself is never written anywhere.
"use strict";
const fs = require("fs");
const bcrypt = require("bcryptjs");

const dir = "/var/lib/verdaccio";
const file = dir + "/htpasswd";
fs.mkdirSync(dir + "/storage", { recursive: true });
if (!fs.existsSync(file)) {
    const hash = bcrypt.hashSync(process.env.ADMIN_PASSWORD, 10);
    fs.writeFileSync(file + ".tmp", `${process.env.ADMIN_USER}:${hash}\n`, { mode: 0o600 });
    fs.renameSync(file + ".tmp", file);
}
console.log(`Verdaccio ready; its admin is '${process.env.ADMIN_USER}'`);
