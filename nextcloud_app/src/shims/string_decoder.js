/**
 * The part of Node's `string_decoder` that `@nextcloud/files` 3.x (through sax) imports,
 * on the browser's TextDecoder; Nextcloud's own builds polyfill it the same way.
 */
export class StringDecoder {
	constructor(encoding = 'utf8') {
		const label = String(encoding).toLowerCase().replace(/^utf-?8$/, 'utf-8')
		this.decoder = new TextDecoder(label)
	}

	write(bytes) {
		return this.decoder.decode(bytes, { stream: true })
	}

	end(bytes) {
		return (bytes ? this.write(bytes) : '') + this.decoder.decode()
	}
}

export default { StringDecoder }
