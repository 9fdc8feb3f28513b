<?php

declare(strict_types=1);

namespace OCP\EventDispatcher;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IEventListener {
	public function handle(Event $event): void;
}
