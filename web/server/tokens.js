// Prints the demo's two tokens as JSON, signed with MR_WEB_JWT_SECRET and
// valid for 24 hours: "admin" (a signed-in user whose app_metadata.role is
// super_admin, which demo/app.sql's public.is_super_admin() accepts) and
// "user" (an ordinary signed-in user).  Both have PostgREST's role claim.
import { sign } from './jwt.js';

const secret = process.env.MR_WEB_JWT_SECRET;
if (!secret) {
	console.error('MR_WEB_JWT_SECRET is not set');
	process.exit(1);
}
const exp = Math.floor(Date.now() / 1000) + 24 * 3600;
const admin = { role: 'authenticated', sub: 'demo-admin', app_metadata: { role: 'super_admin' }, exp };
const user = { role: 'authenticated', sub: 'demo-user', exp };
console.log(JSON.stringify({ admin: sign(admin, secret), user: sign(user, secret) }));
