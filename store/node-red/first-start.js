// The first start of a Node-RED instance: the bcrypt hash of the generated
// admin password, which settings.js gives to adminAuth. Made once; the
// password itself is never written anywhere.
"use strict";
const fs = require("fs");
const bcrypt = require("bcryptjs");

const dir = "/var/lib/node-red";
const file = dir + "/.admin-password.bcrypt";
fs.mkdirSync(dir, { recursive: true });
if (!fs.existsSync(file)) {
    const hash = bcrypt.hashSync(process.env.ADMIN_PASSWORD, 10);
    fs.writeFileSync(file + ".tmp", hash + "\n", { mode: 0o600 });
    fs.renameSync(file + ".tmp", file);
}
console.log(`Node-RED ready; its admin is '${process.env.ADMIN_USER}'`);
