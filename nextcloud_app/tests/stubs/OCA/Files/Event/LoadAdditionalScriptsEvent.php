<?php

declare(strict_types=1);

namespace OCA\Files\Event;

use OCP\EventDispatcher\Event;

/** Test double of the Files app's event (apps/files), dispatched when its page loads. */
class LoadAdditionalScriptsEvent extends Event {
}
