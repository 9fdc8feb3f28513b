<?php

declare(strict_types=1);

namespace OCA\Viewer\Event;

use OCP\EventDispatcher\Event;

/** Test double of the Viewer app's event (apps/viewer), dispatched by pages that load the Viewer. */
class LoadViewer extends Event {
}
