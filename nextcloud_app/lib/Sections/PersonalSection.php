<?php

declare(strict_types=1);

namespace OCA\NextPyter\Sections;

/** The "NextPyter" entry in the personal settings navigation. */
final class PersonalSection extends NextPyterSection {
}
