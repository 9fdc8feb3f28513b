<?php

declare(strict_types=1);

namespace OCA\NextPyter\Files;

/** A path Jupyter may not open; the message says why, as a phrase ("it contains …"). */
final class PathRefused extends \InvalidArgumentException {
}
