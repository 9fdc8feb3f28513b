<?php

declare(strict_types=1);

namespace OCA\NextPyter\Sections;

/** The "NextPyter" entry in the administration settings navigation. */
final class AdminSection extends NextPyterSection {
}
