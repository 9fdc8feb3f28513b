<?php

declare(strict_types=1);

// Personal settings → NextPyter. The script nextpyter-personal (added by
// OCA\NextPyter\Settings\Personal) renders the page into this element.
?>
<div id="nextpyter-personal"></div>
