// HS256 JSON Web Tokens (RFC 7519) with node's crypto: just what PostgREST's
// JWT check needs.  verify() accepts only alg HS256, compares the signature in
// constant time and checks exp and nbf (with PostgREST's 30 s clock skew).
import { createHmac, timingSafeEqual } from 'node:crypto';

const CLOCK_SKEW_S = 30;

export class JwtError extends Error {}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const sign256 = (data, secret) => createHmac('sha256', secret).update(data).digest();

// A signed token for the claims (an object).
export function sign(claims, secret) {
	const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
	const body = b64url(JSON.stringify(claims));
	return `${head}.${body}.${b64url(sign256(`${head}.${body}`, secret))}`;
}

// The claims of a valid token; throws JwtError otherwise.
export function verify(token, secret, nowS = Date.now() / 1000) {
	const parts = token.split('.');
	if (parts.length !== 3)
		throw new JwtError('JWT is malformed: expected three parts');
	const [head, body, sig] = parts;
	let header, claims;
	try {
		header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'));
		claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
	} catch {
		throw new JwtError('JWT is malformed: header or claims are not JSON');
	}
	if (header === null || header.alg !== 'HS256')
		throw new JwtError('JWT algorithm must be HS256');
	const expected = sign256(`${head}.${body}`, secret);
	const given = Buffer.from(sig, 'base64url');
	if (given.length !== expected.length || !timingSafeEqual(given, expected))
		throw new JwtError('JWT signature does not match');
	if (claims === null || typeof claims !== 'object' || Array.isArray(claims))
		throw new JwtError('JWT claims must be a JSON object');
	if (claims.exp !== undefined && !(typeof claims.exp === 'number' && nowS < claims.exp + CLOCK_SKEW_S))
		throw new JwtError('JWT expired');
	if (claims.nbf !== undefined && !(typeof claims.nbf === 'number' && nowS >= claims.nbf - CLOCK_SKEW_S))
		throw new JwtError('JWT not yet valid');
	return claims;
}
